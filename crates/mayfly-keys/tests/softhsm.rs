//! The PKCS#11 backend against a real SoftHSM2 token that the test creates in a temp dir;
//! OpenSSL verifies every signature the token makes.
//!
//! SoftHSM2 reads its configuration from `SOFTHSM2_CONF`, which must be set before the module
//! loads. Setting environment variables in a running test is `unsafe`, so the test sets up the
//! token, then re-runs itself in a child process with the variable set.
#![allow(
    clippy::disallowed_methods,
    reason = "the test passes the temp token's location to its own child process"
)]
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::path::{Path, PathBuf};
use std::process::Command;

use mayfly_keys::{
    KeyError, KeyType, Password, Pkcs11Location, Pkcs11Signer, Signer, Verifier, load_signer,
};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const CHILD: &str = "MAYFLY_SOFTHSM_TEST_DIR";
const TOKEN: &str = "mayfly-test";
const PIN: &str = "1234";

#[test]
fn softhsm_signers_make_signatures_openssl_verifies() {
    if let Some(dir) = std::env::var_os(CHILD) {
        return in_child(Path::new(&dir));
    }
    let (Some(util), Some(tool), Some(_)) = (
        mayfly_testkit::tool("softhsm2-util"),
        mayfly_testkit::tool("pkcs11-tool"),
        mayfly_testkit::tool("openssl"),
    ) else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("tokens")).unwrap();
    let conf = mayfly_testkit::write_file(
        d,
        "softhsm2.conf",
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            d.join("tokens").display()
        ),
    );
    mayfly_testkit::write_file(d, "pin", format!("{PIN}\n"));
    mayfly_testkit::run_ok(Command::new(&util).env("SOFTHSM2_CONF", &conf).args([
        "--init-token",
        "--free",
        "--label",
        TOKEN,
        "--so-pin",
        "12345678",
        "--pin",
        PIN,
    ]));
    // A key made by another tool, as an operator would with pkcs11-tool (INTEROP.md §5).
    mayfly_testkit::run_ok(Command::new(&tool).env("SOFTHSM2_CONF", &conf).args([
        "--module",
        MODULE,
        "--token-label",
        TOKEN,
        "--login",
        "--pin",
        PIN,
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "ca-key",
        "--id",
        "01",
    ]));
    let child = std::env::current_exe().unwrap();
    mayfly_testkit::run_ok(
        Command::new(child)
            .args([
                "--exact",
                "softhsm_signers_make_signatures_openssl_verifies",
                "--nocapture",
            ])
            .env("SOFTHSM2_CONF", &conf)
            .env(CHILD, d),
    );
}

fn uri(dir: &Path, object: &str) -> String {
    format!(
        "pkcs11:token={TOKEN};object={object}?module-path={MODULE}&pin-source=file:{}",
        dir.join("pin").display()
    )
}

/// OpenSSL verifies `signature` over `message` with the signer's public key.
fn openssl_verifies(dir: &Path, signer: &dyn Signer, message: &[u8], signature: &[u8]) {
    let openssl = mayfly_testkit::tool("openssl").unwrap();
    let public = mayfly_testkit::write_file(dir, "pub.pem", signer.public_key().to_pem().unwrap());
    let msg = mayfly_testkit::write_file(dir, "msg", message);
    let sig = mayfly_testkit::write_file(dir, "sig", signature);
    let digest = match signer.algorithm() {
        mayfly_keys::SignatureAlgorithm::EcdsaSha384 => "-sha384",
        _ => "-sha256",
    };
    let out = mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["dgst", digest, "-verify"])
            .arg(&public)
            .arg("-signature")
            .arg(&sig)
            .arg(&msg),
    );
    assert!(out.contains("Verified OK"), "{out}");
}

fn exercise(dir: &Path, signer: &dyn Signer, key_type: KeyType) {
    assert_eq!(signer.public_key().key_type(), key_type);
    let message = format!("signed inside the token by a {key_type} key").into_bytes();
    let signature = signer.sign(&message).unwrap();
    signer
        .public_key()
        .verify(signer.algorithm(), &message, &signature)
        .unwrap();
    openssl_verifies(dir, signer, &message, &signature);
    let jws = signer.sign_jws(&message).unwrap();
    signer
        .public_key()
        .verify_jws(signer.algorithm(), &message, &jws)
        .unwrap();
}

fn in_child(dir: &Path) {
    let with_pin = |object: &str| Pkcs11Location {
        module: PathBuf::from(MODULE),
        token: TOKEN.into(),
        object: object.into(),
        pin_file: None,
    };
    // A wrong PIN first: once a session of this process is logged in, the token is unlocked
    // for all of them (PKCS#11 login state is per application).
    let wrong = Password::from_bytes(b"9999".to_vec());
    let result = Pkcs11Signer::open(&with_pin("ca-key"), Some(&wrong));
    assert!(
        matches!(&result, Err(KeyError::WrongPin(token)) if token == TOKEN),
        "{result:?}"
    );
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("wrong PIN") && message.contains(TOKEN),
        "{message}"
    );

    // The key pkcs11-tool made, through load_signer and a pkcs11: URI.
    let ca = load_signer(&uri(dir, "ca-key"), None).unwrap();
    exercise(dir, ca.as_ref(), KeyType::EcP256);

    // Keys generated inside the token: never extractable.
    let pin = Password::from_bytes(PIN.as_bytes().to_vec());
    for (object, key_type) in [
        ("p384", KeyType::EcP384),
        ("rsa", KeyType::Rsa(2048)),
        ("p256", KeyType::EcP256),
    ] {
        let made = Pkcs11Signer::generate(&with_pin(object), Some(&pin), key_type).unwrap();
        assert!(made.is_non_extractable().unwrap(), "{object}");
        exercise(dir, &made, key_type);
        let reopened = load_signer(&uri(dir, object), None).unwrap();
        assert_eq!(reopened.public_key(), made.public_key());
        exercise(dir, reopened.as_ref(), key_type);
    }

    // Distinct errors: taken label, unknown token, unknown object.
    assert!(matches!(
        Pkcs11Signer::generate(&with_pin("p256"), Some(&pin), KeyType::EcP256),
        Err(KeyError::Pkcs11(_))
    ));
    let mut other_token = with_pin("ca-key");
    other_token.token = "no-such-token".into();
    let result = Pkcs11Signer::open(&other_token, Some(&pin));
    assert!(
        matches!(&result, Err(KeyError::Pkcs11(m)) if m.contains("no-such-token")),
        "{result:?}"
    );
    let result = load_signer(&uri(dir, "missing"), None);
    assert!(
        matches!(&result, Err(KeyError::Pkcs11(m)) if m.contains("missing")),
        "{:?}",
        result.err()
    );
}

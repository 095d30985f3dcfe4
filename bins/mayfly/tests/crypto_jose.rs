//! `mayfly crypto jwk create`, `crypto jwe decrypt`, `crypto jwt inspect|verify`, driven as a
//! user would, with the encrypted JWK checked by Python jwcrypto.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

use mayfly_jwt::{Jwk, Operation, TokenClaims, mint_token};
use mayfly_keys::KeyType;
use mayfly_testkit::{stderr_of_failure, stdout_of_success};
use serde_json::Value;

/// Runs `mayfly ARGS` with `stdin`.
fn mayfly(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mayfly runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("mayfly finishes")
}

fn ok(args: &[&str], stdin: &str) -> String {
    stdout_of_success(("mayfly", args), mayfly(args, stdin))
}

fn fails(args: &[&str], stdin: &str) -> String {
    stderr_of_failure(("mayfly", args), mayfly(args, stdin))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn jwk_create_then_decrypt_mint_inspect_and_verify() {
    let dir = mayfly_testkit::temp_dir();
    let pw = mayfly_testkit::write_file(dir.path(), "pw", "s3cret\n");
    for (name, key_flags, key_type) in [
        ("P-256", &[][..], KeyType::EcP256),
        (
            "P-384",
            &["--kty", "EC", "--crv", "P-384"][..],
            KeyType::EcP384,
        ),
        (
            "Ed25519",
            &["--kty", "OKP", "--crv", "Ed25519"][..],
            KeyType::Ed25519,
        ),
        ("RSA", &["--kty", "RSA"][..], KeyType::Rsa(2048)),
    ] {
        let public = dir.path().join(format!("{name}.pub.json"));
        let private = dir.path().join(format!("{name}.priv.json"));
        let mut create = vec!["crypto", "jwk", "create", path(&public), path(&private)];
        create.extend_from_slice(key_flags);
        create.extend(["--password-file", path(&pw)]);
        ok(&create, "");
        assert_eq!(
            std::fs::metadata(&private)
                .expect("private JWK")
                .permissions()
                .mode()
                & 0o777,
            0o600,
            "{name}"
        );
        // A second run does not overwrite.
        assert!(fails(&create, "").contains("exists"));

        let public_jwk = Jwk::from_json(&std::fs::read(&public).expect("pub")).expect("JWK");
        assert_eq!(
            public_jwk.kid,
            Some(public_jwk.thumbprint().expect("thumbprint"))
        );
        assert!(!public_jwk.is_private());
        let encrypted = std::fs::read_to_string(&private).expect("priv");
        let header: Value = serde_json::from_str(&encrypted).expect("JSON JWE");
        assert!(header["protected"].is_string() && header["tag"].is_string());

        let decrypted = ok(
            &["crypto", "jwe", "decrypt", "--password-file", path(&pw)],
            &encrypted,
        );
        let private_jwk = Jwk::from_json(decrypted.as_bytes()).expect("private JWK");
        assert_eq!(private_jwk.to_public(), public_jwk);
        let key = private_jwk.to_private_key().expect("key");
        assert_eq!(key.key_type(), key_type, "{name}");

        // A token minted with the key verifies against the public JWK.
        let aud = Operation::Sign.audience("ca.example.com:9000");
        let claims = TokenClaims::new("ops", "host.example.com", &aud, SystemTime::now());
        let kid = public_jwk.kid.clone().expect("kid");
        let token = mint_token(&key, &kid, &claims).expect("mint");
        let verified = ok(
            &[
                "crypto",
                "jwt",
                "verify",
                "--key",
                path(&public),
                "--iss",
                "ops",
                "--aud",
                &aud,
            ],
            &token,
        );
        let verified: Value = serde_json::from_str(&verified).expect("JSON");
        assert_eq!(verified["payload"]["sub"], "host.example.com");
        assert_eq!(verified["header"]["kid"], kid.as_str());
        assert!(
            fails(
                &[
                    "crypto",
                    "jwt",
                    "verify",
                    "--key",
                    path(&public),
                    "--iss",
                    "other",
                    "--aud",
                    &aud
                ],
                &token
            )
            .contains("unknown provisioner")
        );
        let revoke = Operation::Revoke.audience("ca.example.com");
        assert!(
            fails(
                &[
                    "crypto",
                    "jwt",
                    "verify",
                    "--key",
                    path(&public),
                    "--iss",
                    "ops",
                    "--aud",
                    &revoke
                ],
                &token
            )
            .contains("not for /1.0/revoke")
        );

        let inspected = ok(&["crypto", "jwt", "inspect", "--insecure"], &token);
        let inspected: Value = serde_json::from_str(&inspected).expect("JSON");
        assert_eq!(inspected["payload"]["aud"], aud.as_str());
        assert!(fails(&["crypto", "jwt", "inspect"], &token).contains("--insecure"));

        // Once (a 600,000-iteration PBKDF2 is slow in debug builds): a wrong password is
        // refused, and an independent implementation decrypts the file Mayfly wrote.
        if name == "P-256" {
            let wrong = mayfly_testkit::write_file(dir.path(), "wrong", "nope");
            let args = ["crypto", "jwe", "decrypt", "--password-file", path(&wrong)];
            assert!(fails(&args, &encrypted).contains("wrong password"));
            jwcrypto_decrypts(&private, &private_jwk);
        }
    }
}

fn jwcrypto_decrypts(private: &Path, expected: &Jwk) {
    let Some(python) = mayfly_testkit::venv_tool("python") else {
        return;
    };
    let script = "import sys, jwcrypto.jwa, jwcrypto.jwe, jwcrypto.jwk\n\
                  jwcrypto.jwa.default_max_pbkdf2_iterations = 1_000_000\n\
                  e = jwcrypto.jwe.JWE(); e.deserialize(open(sys.argv[1]).read(), jwcrypto.jwk.JWK.from_password('s3cret'))\n\
                  print(e.payload.decode())";
    let out = mayfly_testkit::run_ok(Command::new(python).args(["-c", script, path(private)]));
    assert_eq!(
        &Jwk::from_json(out.trim().as_bytes()).expect("JWK"),
        expected
    );
}

//! `mayfly-ca init` end to end, checked with openssl, pkilint and the authority itself.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

mod pki_common;

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use mayfly_authority::config::CaConfig;
use mayfly_keys::Password;
use mayfly_testkit::{run, run_ok, temp_dir, tool, venv_tool, write_file};
use pki_common::{init_pki, mayfly_ca, mode, read, read_json};

fn openssl_verify(openssl: &Path, root: &Path, cert: &Path, untrusted: Option<&Path>) {
    let mut command = Command::new(openssl);
    command.arg("verify").arg("-CAfile").arg(root);
    if let Some(untrusted) = untrusted {
        command.arg("-untrusted").arg(untrusted);
    }
    let out = run_ok(command.arg(cert));
    assert!(out.contains(": OK"), "{out}");
}

fn sha256_fingerprint(openssl: &Path, cert: &Path) -> String {
    let out = run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
    );
    out.trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .replace(':', "")
        .to_lowercase()
}

/// Issues a leaf for `host.test` through the authority configured by `ca_json`, with a token
/// signed by the first provisioner's key (decrypted with `provisioner_password`).
fn issue_leaf(ca_json: &Path, password_file: &Path, provisioner_password: &Path, out: &Path) {
    let config = CaConfig::load(ca_json).unwrap();
    let value = read_json(ca_json);
    let provisioner = &value["authority"]["provisioners"][0];
    let jwk = mayfly_jwt::decrypt_jwk(
        provisioner["encryptedKey"].as_str().unwrap(),
        &Password::from_file(provisioner_password).unwrap(),
    )
    .unwrap();
    let key = jwk.to_private_key().unwrap();
    let kid = provisioner["key"]["kid"].as_str().unwrap();
    let claims = mayfly_jwt::TokenClaims::new(
        provisioner["name"].as_str().unwrap(),
        "host.test",
        &mayfly_jwt::Operation::Sign.audience("ca.test:9000"),
        SystemTime::now(),
    );
    let token = mayfly_jwt::mint_token(&key, kid, &claims).unwrap();
    let leaf_key = mayfly_keys::PrivateKey::generate(mayfly_keys::KeyType::default()).unwrap();
    let csr = mayfly_template::build_request(
        "host.test",
        &[mayfly_template::San::guess("host.test")],
        &leaf_key,
    )
    .unwrap();
    let password = Password::from_file(password_file).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issued = runtime.block_on(async {
        let authority = mayfly_authority::Authority::open(&config, Some(&password))
            .await
            .unwrap();
        authority
            .sign(mayfly_authority::SignRequest {
                csr_der: csr,
                token,
                not_before: None,
                not_after: None,
                template_data: None,
            })
            .await
            .unwrap()
    });
    let pem = mayfly_template::certificate_to_pem(&issued.certificate).unwrap();
    std::fs::write(out, pem).unwrap();
}

#[test]
fn init_writes_a_pki_that_openssl_pkilint_and_the_authority_accept() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let base = init_pki(dir.path(), &[]);
    let certs = base.join("certs");
    let secrets = base.join("secrets");
    let root = certs.join("root_ca.crt");
    let intermediate = certs.join("intermediate_ca.crt");

    openssl_verify(&openssl, &root, &intermediate, None);
    let password_file = secrets.join("password.txt");
    for key in ["root_ca_key", "intermediate_ca_key"] {
        let key = secrets.join(key);
        assert!(read(&key).contains("BEGIN ENCRYPTED PRIVATE KEY"));
        run_ok(
            Command::new(&openssl)
                .args(["pkey", "-noout", "-in"])
                .arg(&key)
                .arg("-passin")
                .arg(format!("file:{}", password_file.display())),
        );
        let (ok, _) = run(Command::new(&openssl)
            .args(["pkey", "-noout", "-passin", "pass:wrong", "-in"])
            .arg(&key));
        assert!(!ok, "{} opened with a wrong password", key.display());
    }
    for secret in [
        "root_ca_key",
        "intermediate_ca_key",
        "password.txt",
        "provisioner_password.txt",
    ] {
        assert_eq!(mode(&secrets.join(secret)), 0o600, "{secret}");
    }
    assert_eq!(mode(&secrets), 0o700);
    assert_eq!(mode(&base.join("config/ca.json")), 0o600);
    assert!(base.join("db/mayfly.db").is_file());

    // ca.json: absolute paths, step's key names, loads.
    let ca_json = base.join("config/ca.json");
    let config = CaConfig::load(&ca_json).unwrap();
    assert_eq!(config.crt, intermediate);
    assert!(Path::new(&config.key).is_absolute());
    assert_eq!(config.dns_names, ["ca.test", "127.0.0.1"]);
    let value = read_json(&ca_json);
    assert_eq!(
        value["db"],
        serde_json::json!({"type": "sqlite", "dataSource": base.join("db/mayfly.db")})
    );

    // defaults.json pins the root openssl sees.
    let defaults = read_json(&base.join("config/defaults.json"));
    assert_eq!(defaults["fingerprint"], sha256_fingerprint(&openssl, &root));
    assert_eq!(defaults["ca-url"], "https://ca.test:9000");
    assert_eq!(defaults["root"], root.to_str().unwrap());

    // The provisioner key opens with its own password, never with the CA password.
    let encrypted = value["authority"]["provisioners"][0]["encryptedKey"]
        .as_str()
        .unwrap();
    let provisioner_password = secrets.join("provisioner_password.txt");
    let jwk = mayfly_jwt::decrypt_jwk(
        encrypted,
        &Password::from_file(&provisioner_password).unwrap(),
    )
    .unwrap();
    assert!(jwk.is_private());
    assert_eq!(
        jwk.thumbprint().unwrap(),
        value["authority"]["provisioners"][0]["key"]["kid"]
    );
    assert!(
        mayfly_jwt::decrypt_jwk(encrypted, &Password::from_file(&password_file).unwrap()).is_err()
    );

    // jwcrypto (an independent JOSE implementation) decrypts it too, to the key in ca.json.
    if let Some(python) = venv_tool("python") {
        let script = "import sys, json\n\
            from jwcrypto import jwa, jwe, jwk\n\
            jwa.default_max_pbkdf2_iterations = 1000000  # its default 16384 is below step's 600000\n\
            token = jwe.JWE()\n\
            token.deserialize(sys.argv[1])\n\
            password = open(sys.argv[2], 'rb').read().rstrip(b'\\n')\n\
            token.decrypt(jwk.JWK.from_password(password.decode()))\n\
            key = jwk.JWK.from_json(token.payload)\n\
            print(key.thumbprint())\n";
        let out = run_ok(
            Command::new(python)
                .args(["-c", script, encrypted])
                .arg(&provisioner_password),
        );
        assert_eq!(
            out.trim(),
            value["authority"]["provisioners"][0]["key"]["kid"]
        );
    }

    // The authority opens the result and issues with the provisioner; openssl verifies.
    let leaf = dir.path().join("leaf.crt");
    issue_leaf(&ca_json, &password_file, &provisioner_password, &leaf);
    openssl_verify(&openssl, &root, &leaf, Some(&intermediate));

    // pkilint finds nothing wrong with either CA certificate.
    if let Some(lint) = venv_tool("lint_pkix_cert") {
        for cert in [&root, &intermediate] {
            let (ok, out) = run(Command::new(&lint)
                .args(["lint", "-s", "WARNING"])
                .arg(cert));
            assert!(ok && out.trim().is_empty(), "{}: {out}", cert.display());
        }
    }
}

#[test]
fn init_with_rsa_3072_keys_prints_the_generated_password_files() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let base = dir.path().join("pki");
    let out = run_ok(
        mayfly_ca()
            .args(["init", "--name", "RSA", "--dns", "ca.test"])
            .args([
                "--provisioner",
                "p",
                "--kty",
                "RSA",
                "--size",
                "3072",
                "--path",
            ])
            .arg(&base),
    );
    // The generated passwords are only ever shown as the files holding them, once.
    let password_file = base.join("secrets/password.txt");
    let provisioner_password = base.join("secrets/provisioner_password.txt");
    for file in [&password_file, &provisioner_password] {
        let shown = format!("{} (mode 0600", file.display());
        assert_eq!(out.matches(&shown).count(), 1, "{shown} in:\n{out}");
        assert_eq!(mode(file), 0o600);
    }
    assert!(!out.contains(read(&password_file).trim()), "{out}");

    let root = base.join("certs/root_ca.crt");
    let intermediate = base.join("certs/intermediate_ca.crt");
    openssl_verify(&openssl, &root, &intermediate, None);
    for cert in [&root, &intermediate] {
        let text = run_ok(
            Command::new(&openssl)
                .args(["x509", "-noout", "-text", "-in"])
                .arg(cert),
        );
        assert!(text.contains("Public-Key: (3072 bit)"), "{text}");
    }
    let key = run_ok(
        Command::new(&openssl)
            .args(["pkey", "-noout", "-text", "-in"])
            .arg(base.join("secrets/intermediate_ca_key"))
            .arg("-passin")
            .arg(format!("file:{}", password_file.display())),
    );
    assert!(key.contains("Private-Key: (3072 bit"), "{key}");
}

#[test]
fn init_refuses_to_replace_a_pki_without_force() {
    let dir = temp_dir();
    let base = init_pki(dir.path(), &[]);
    let root = base.join("certs/root_ca.crt");
    let before = read(&root);
    let (ok, out) = run(mayfly_ca()
        .args(["init", "--name", "Other", "--dns", "x.test"])
        .args(["--provisioner", "p", "--path"])
        .arg(&base));
    assert!(!ok);
    assert!(
        out.contains("already holds a PKI") && out.contains("--force"),
        "{out}"
    );
    assert_eq!(read(&root), before);

    init_pki(dir.path(), &["--force"]);
    assert_ne!(read(&root), before);
}

#[test]
fn init_uses_password_files_and_refuses_the_ca_password_for_the_provisioner() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let ca_password = write_file(dir.path(), "ca-pass", "  ca secret\n");
    let (ok, out) = run(mayfly_ca()
        .args([
            "init",
            "--name",
            "T",
            "--dns",
            "ca.test",
            "--provisioner",
            "p",
        ])
        .arg("--path")
        .arg(dir.path().join("same"))
        .arg("--password-file")
        .arg(&ca_password)
        .arg("--provisioner-password-file")
        .arg(&ca_password));
    assert!(!ok);
    assert!(out.contains("must differ from the CA password"), "{out}");
    assert!(!dir.path().join("same/secrets/root_ca_key").exists());

    let provisioner_password = write_file(dir.path(), "prov-pass", "prov secret");
    let base = dir.path().join("pki");
    let out = run_ok(
        mayfly_ca()
            .args([
                "init",
                "--name",
                "T",
                "--dns",
                "ca.test",
                "--provisioner",
                "p",
            ])
            .args([
                "--kty",
                "EC",
                "--crv",
                "P-384",
                "--address",
                ":443",
                "--path",
            ])
            .arg(&base)
            .arg("--password-file")
            .arg(&ca_password)
            .arg("--provisioner-password-file")
            .arg(&provisioner_password),
    );
    assert!(!base.join("secrets/password.txt").exists());
    assert!(!base.join("secrets/provisioner_password.txt").exists());
    assert!(out.contains("Root fingerprint: "), "{out}");
    // Leading spaces belong to the password.
    let key = base.join("secrets/intermediate_ca_key");
    run_ok(
        Command::new(&openssl)
            .args(["pkey", "-noout", "-in"])
            .arg(&key)
            .arg("-passin")
            .arg(format!("file:{}", ca_password.display())),
    );
    let text = run_ok(
        Command::new(&openssl)
            .args(["x509", "-noout", "-text", "-in"])
            .arg(base.join("certs/intermediate_ca.crt")),
    );
    assert!(text.contains("NIST CURVE: P-384"), "{text}");
    let defaults = read_json(&base.join("config/defaults.json"));
    assert_eq!(defaults["ca-url"], "https://ca.test");
}

#[test]
fn init_without_a_terminal_names_the_missing_flag() {
    let dir = temp_dir();
    let (ok, out) = run(mayfly_ca()
        .args(["init", "--dns", "ca.test", "--provisioner", "p", "--path"])
        .arg(dir.path()));
    assert!(!ok);
    assert!(out.contains("--name is required"), "{out}");
    let (ok, out) = run(mayfly_ca()
        .args([
            "init",
            "--name",
            "n",
            "--dns",
            "ca.test",
            "--provisioner",
            "p",
        ])
        .args(["--kty", "OKP", "--path"])
        .arg(dir.path()));
    assert!(!ok);
    assert!(out.contains("Ed25519"), "{out}");
}

/// An openssl root whose key is encrypted with its own password.
fn openssl_root(openssl: &Path, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    write_file(dir, "root-pass", "root secret\n");
    write_file(
        dir,
        "ext.cnf",
        "[req]\ndistinguished_name=dn\n[dn]\n[root]\nbasicConstraints=critical,CA:TRUE,pathlen:1\n\
         keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
         [int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    );
    // A PKCS#8 key with PBES2/AES (openssl req alone would pick 3DES).
    run_ok(Command::new(openssl).current_dir(dir).args([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-aes-128-cbc",
        "-pass",
        "file:root-pass",
        "-out",
        "root.key",
    ]));
    run_ok(Command::new(openssl).current_dir(dir).args([
        "req",
        "-x509",
        "-new",
        "-key",
        "root.key",
        "-passin",
        "file:root-pass",
        "-subj",
        "/CN=Offline Root",
        "-days",
        "3650",
        "-config",
        "ext.cnf",
        "-extensions",
        "root",
        "-out",
        "root.crt",
    ]));
    (dir.join("root.crt"), dir.join("root.key"))
}

#[test]
fn init_with_an_existing_root_and_key() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let (root_crt, root_key) = openssl_root(&openssl, dir.path());
    let base = init_pki(
        dir.path(),
        &[
            "--root",
            root_crt.to_str().unwrap(),
            "--key",
            root_key.to_str().unwrap(),
            "--key-password-file",
            dir.path().join("root-pass").to_str().unwrap(),
        ],
    );
    assert!(!base.join("secrets/root_ca_key").exists());
    assert_eq!(read(&base.join("certs/root_ca.crt")), read(&root_crt));
    openssl_verify(
        &openssl,
        &root_crt,
        &base.join("certs/intermediate_ca.crt"),
        None,
    );

    // A key that is not the root's is refused.
    let other = dir.path().join("other");
    let (ok, out) = run(mayfly_ca()
        .args([
            "init",
            "--name",
            "T",
            "--dns",
            "ca.test",
            "--provisioner",
            "p",
            "--path",
        ])
        .arg(&other)
        .arg("--root")
        .arg(&root_crt)
        .arg("--key")
        .arg(base.join("secrets/intermediate_ca_key"))
        .arg("--key-password-file")
        .arg(base.join("secrets/password.txt")));
    assert!(!ok);
    assert!(out.contains("does not belong to the root"), "{out}");
}

#[test]
fn csr_mode_writes_a_csr_for_the_offline_root_and_init_completes_after_signing() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let (root_crt, _) = openssl_root(&openssl, dir.path());
    let base = init_pki(dir.path(), &["--csr", "--root", root_crt.to_str().unwrap()]);
    let csr = base.join("certs/intermediate_ca.csr");
    let out = run_ok(
        Command::new(&openssl)
            .args(["req", "-verify", "-noout", "-subject", "-in"])
            .arg(&csr),
    );
    assert!(
        out.contains("verify OK") || out.contains("Certificate request self-signature verify OK"),
        "{out}"
    );
    assert!(out.contains("Test Intermediate CA"), "{out}");
    assert!(!base.join("config/ca.json").exists());
    assert!(!base.join("secrets/root_ca_key").exists());
    assert_eq!(mode(&base.join("secrets/intermediate_ca_key")), 0o600);

    // The offline root signs the CSR.
    let intermediate = base.join("certs/intermediate_ca.crt");
    run_ok(
        Command::new(&openssl)
            .current_dir(dir.path())
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .args([
                "-CA",
                "root.crt",
                "-CAkey",
                "root.key",
                "-passin",
                "file:root-pass",
            ])
            .args([
                "-CAcreateserial",
                "-days",
                "1825",
                "-extfile",
                "ext.cnf",
                "-extensions",
                "int",
            ])
            .arg("-out")
            .arg(&intermediate),
    );

    // A certificate the root did not sign is refused.
    let stranger = init_pki(&dir.path().join("stranger"), &[]);
    let (ok, out) = run(mayfly_ca()
        .args([
            "init",
            "--name",
            "Test",
            "--dns",
            "ca.test",
            "--provisioner",
            "p",
            "--path",
        ])
        .arg(&base)
        .arg("--root")
        .arg(&root_crt)
        .arg("--intermediate")
        .arg(stranger.join("certs/intermediate_ca.crt")));
    assert!(!ok);
    assert!(out.contains("intermediate"), "{out}");

    let out = run_ok(
        mayfly_ca()
            .args([
                "init",
                "--name",
                "Test",
                "--dns",
                "ca.test",
                "--provisioner",
                "p",
                "--path",
            ])
            .arg(&base)
            .arg("--root")
            .arg(&root_crt)
            .arg("--intermediate")
            .arg(&intermediate),
    );
    assert!(out.contains("Root fingerprint: "), "{out}");
    let ca_json = base.join("config/ca.json");
    let leaf = dir.path().join("leaf.crt");
    issue_leaf(
        &ca_json,
        &base.join("secrets/password.txt"),
        &base.join("secrets/provisioner_password.txt"),
        &leaf,
    );
    openssl_verify(&openssl, &root_crt, &leaf, Some(&intermediate));
}

#[test]
fn init_on_a_terminal_asks_for_what_is_missing() {
    // util-linux `script` runs mayfly-ca on a pseudo-terminal and feeds it the answers.
    let Some(script) = tool("script") else { return };
    let dir = temp_dir();
    let base = dir.path().join("pki");
    let command = format!(
        "{} init --path {}",
        env!("CARGO_BIN_EXE_mayfly-ca"),
        base.display()
    );
    let mut child = Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .env_remove("MAYFLY_PATH")
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"TTY Corp\nca.tty.test, 10.0.0.9\n\nbob@tty\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("What would you like to name your new PKI?"),
        "{text}"
    );
    assert!(text.contains("[127.0.0.1:9000]"), "{text}");
    let config = CaConfig::load(&base.join("config/ca.json")).unwrap();
    assert_eq!(config.dns_names, ["ca.tty.test", "10.0.0.9"]);
    assert_eq!(config.address, "127.0.0.1:9000");
    assert_eq!(config.authority.provisioners[0].name(), "bob@tty");
    let subject = read(&base.join("certs/root_ca.crt"));
    let root = mayfly_template::parse_certificate_pem(&subject).unwrap();
    assert!(
        root.tbs_certificate()
            .subject()
            .to_string()
            .contains("TTY Corp Root CA")
    );
}

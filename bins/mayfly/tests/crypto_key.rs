//! `mayfly crypto keypair` / `change-pass` end to end: OpenSSL reads every key they write.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mayfly() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mayfly"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `openssl pkey` reads the private key with the password file and derives `public`.
fn openssl_agrees(openssl: &Path, private: &Path, password_file: Option<&Path>, public: &Path) {
    let mut cmd = Command::new(openssl);
    cmd.args(["pkey", "-pubout", "-in"]).arg(private);
    if let Some(file) = password_file {
        cmd.arg("-passin").arg(format!("file:{}", file.display()));
    }
    let derived = mayfly_testkit::run_ok(&mut cmd);
    assert_eq!(
        derived,
        std::fs::read_to_string(public).unwrap(),
        "{}",
        private.display()
    );
}

fn openssl_text(openssl: &Path, private: &Path, password_file: &Path) -> String {
    mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["pkey", "-noout", "-text", "-in"])
            .arg(private)
            .arg("-passin")
            .arg(format!("file:{}", password_file.display())),
    )
}

#[test]
fn keypair_writes_encrypted_keys_openssl_reads() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    let pw = mayfly_testkit::write_file(d, "pw.txt", "  spaced password\n");
    for (flags, text) in [
        (&[][..], "NIST CURVE: P-256"),
        (
            &["--kty", "EC", "--crv", "P-384", "--cipher", "aes256"][..],
            "NIST CURVE: P-384",
        ),
        (
            &["--kty", "OKP", "--crv", "Ed25519"][..],
            "ED25519 Private-Key",
        ),
        (
            &["--kty", "RSA", "--size", "2048", "--cipher", "aes192"][..],
            "Private-Key: (2048 bit",
        ),
        (
            &["--kty", "RSA", "--size", "3072"][..],
            "Private-Key: (3072 bit",
        ),
    ] {
        let (public, private) = (d.join("k.pub"), d.join("k.pem"));
        mayfly_testkit::run_ok(
            mayfly()
                .args(["crypto", "keypair"])
                .arg(&public)
                .arg(&private)
                .args(flags)
                .arg("--password-file")
                .arg(&pw)
                .arg("--force"),
        );
        assert_eq!(mode(&private), 0o600);
        assert!(
            std::fs::read_to_string(&private)
                .unwrap()
                .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        );
        openssl_agrees(&openssl, &private, Some(&pw), &public);
        let shown = openssl_text(&openssl, &private, &pw);
        assert!(shown.contains(text), "{flags:?}: {shown}");
    }
}

#[test]
fn keypair_refuses_to_overwrite_and_unsafe_choices() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    let (public, private) = (d.join("k.pub"), d.join("k.pem"));
    let (ok, out) = mayfly_testkit::run(
        mayfly()
            .args(["crypto", "keypair"])
            .arg(&public)
            .arg(&private)
            .arg("--no-password"),
    );
    assert!(!ok && out.contains("--insecure"), "{out}");
    mayfly_testkit::run_ok(
        mayfly()
            .args(["crypto", "keypair"])
            .arg(&public)
            .arg(&private)
            .args(["--no-password", "--insecure"]),
    );
    assert!(
        std::fs::read_to_string(&private)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    openssl_agrees(&openssl, &private, None, &public);
    let before = std::fs::read(&private).unwrap();
    let (ok, out) = mayfly_testkit::run(
        mayfly()
            .args(["crypto", "keypair"])
            .arg(&public)
            .arg(&private)
            .args(["--no-password", "--insecure"]),
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    assert_eq!(std::fs::read(&private).unwrap(), before);
    let (ok, out) = mayfly_testkit::run(
        mayfly()
            .args([
                "crypto",
                "keypair",
                "a.pub",
                "a.pem",
                "--kty",
                "RSA",
                "--size",
                "1024",
                "--no-password",
                "--insecure",
            ])
            .current_dir(d),
    );
    assert!(!ok && out.contains("RSA-1024"), "{out}");
}

#[test]
fn readme_quickstart_generates_a_password_file() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    // The README's command, run from a fresh folder.
    mayfly_testkit::run_ok(
        mayfly()
            .args([
                "crypto",
                "keypair",
                "mayfly-demo/key.pub",
                "mayfly-demo/key.pem",
            ])
            .args([
                "--password-file",
                "mayfly-demo/password.txt",
                "--generate-password",
            ])
            .current_dir(d),
    );
    let demo = d.join("mayfly-demo");
    let password_file = demo.join("password.txt");
    assert_eq!(mode(&password_file), 0o600);
    assert_eq!(mode(&demo.join("key.pem")), 0o600);
    let password = std::fs::read_to_string(&password_file).unwrap();
    assert!(password.len() >= 32, "a strong password: {password:?}");
    openssl_agrees(
        &openssl,
        &demo.join("key.pem"),
        Some(&password_file),
        &demo.join("key.pub"),
    );
    // Running it again must not replace the password or the key.
    let (ok, out) = mayfly_testkit::run(
        mayfly()
            .args([
                "crypto",
                "keypair",
                "mayfly-demo/key.pub",
                "mayfly-demo/key.pem",
            ])
            .args([
                "--password-file",
                "mayfly-demo/password.txt",
                "--generate-password",
            ])
            .current_dir(d),
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    assert_eq!(std::fs::read_to_string(&password_file).unwrap(), password);
}

#[test]
fn change_pass_rewrites_keys_openssl_reads() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    let old = mayfly_testkit::write_file(d, "old", "old password\n");
    let new = mayfly_testkit::write_file(d, "new", "new password\n");
    let (public, private) = (d.join("k.pub"), d.join("k.pem"));
    mayfly_testkit::run_ok(
        mayfly()
            .args(["crypto", "keypair"])
            .arg(&public)
            .arg(&private)
            .arg("--password-file")
            .arg(&old)
            .args(["--cipher", "aes256"]),
    );
    let change_in_place = || {
        let mut cmd = mayfly();
        cmd.args(["crypto", "change-pass"])
            .arg(&private)
            .arg("--password-file")
            .arg(&old)
            .arg("--new-password-file")
            .arg(&new);
        cmd
    };
    // Replacing KEY takes --force; without it nothing is asked for nor written.
    let before = std::fs::read(&private).unwrap();
    let (ok, out) = mayfly_testkit::run(&mut change_in_place());
    assert!(!ok && out.contains("without --force"), "{out}");
    assert_eq!(std::fs::read(&private).unwrap(), before);
    mayfly_testkit::run_ok(change_in_place().arg("--force"));
    assert_ne!(std::fs::read(&private).unwrap(), before);
    assert_eq!(mode(&private), 0o600);
    openssl_agrees(&openssl, &private, Some(&new), &public);
    let params = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["asn1parse", "-in"])
            .arg(&private),
    );
    assert!(
        params.contains("aes-256-cbc"),
        "the cipher is kept:\n{params}"
    );

    // Wrong old password: a clear error and the file untouched.
    let before = std::fs::read(&private).unwrap();
    let (ok, out) = mayfly_testkit::run(
        mayfly()
            .args(["crypto", "change-pass"])
            .arg(&private)
            .arg("--password-file")
            .arg(&old)
            .arg("--new-password-file")
            .arg(&old)
            .arg("--force"),
    );
    assert!(!ok && out.contains("wrong password"), "{out}");
    assert_eq!(std::fs::read(&private).unwrap(), before);

    // A step-ca legacy key, re-encrypted to PKCS#8 with another cipher, into a new file.
    let step_pw = mayfly_testkit::write_file(d, "step", "pass");
    let step_key =
        mayfly_testkit::step_fixtures().join("certificates/ca/testdata/secrets/step_cli_key");
    let out_key = d.join("step.pem");
    mayfly_testkit::run_ok(
        mayfly()
            .args(["crypto", "change-pass"])
            .arg(&step_key)
            .arg("--password-file")
            .arg(&step_pw)
            .arg("--new-password-file")
            .arg(&new)
            .args(["--cipher", "aes192", "--out"])
            .arg(&out_key),
    );
    let step_public = step_key.with_file_name("step_cli_key.public");
    openssl_agrees(&openssl, &out_key, Some(&new), &step_public);
    let params = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["asn1parse", "-in"])
            .arg(&out_key),
    );
    assert!(params.contains("aes-192-cbc"), "{params}");

    // An existing --out is replaced only with --force.
    let before = std::fs::read(&out_key).unwrap();
    let (ok, out) = mayfly_testkit::run(
        mayfly()
            .args(["crypto", "change-pass"])
            .arg(&private)
            .arg("--password-file")
            .arg(&new)
            .arg("--new-password-file")
            .arg(&old)
            .arg("--out")
            .arg(&out_key),
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    assert_eq!(std::fs::read(&out_key).unwrap(), before);
}

#[test]
fn a_generated_password_is_printed_once_on_stdout() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    let out = mayfly()
        .args(["crypto", "keypair", "k.pub", "k.pem", "--generate-password"])
        .current_dir(d)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    // Standard output is the password and nothing else; it is stored nowhere.
    let lines: Vec<&str> = stdout.lines().collect();
    let [password] = lines[..] else {
        panic!("one line expected on stdout: {stdout:?}");
    };
    assert!(password.len() >= 32, "a strong password: {password:?}");
    assert!(!stderr.contains(password), "{stderr}");
    let mut files: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["k.pem", "k.pub"]);
    let password_file = mayfly_testkit::write_file(d, "pw", password);
    openssl_agrees(
        &openssl,
        &d.join("k.pem"),
        Some(&password_file),
        &d.join("k.pub"),
    );
}

/// Runs `mayfly ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_a_terminal(script: &Path, dir: &Path, args: &str, input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(script)
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_mayfly")),
            "/dev/null",
        ])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn passwords_can_be_typed_on_a_terminal() {
    let (Some(openssl), Some(script)) = (
        mayfly_testkit::tool("openssl"),
        mayfly_testkit::tool("script"),
    ) else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    let (ok, out) = on_a_terminal(
        &script,
        d,
        "crypto keypair k.pub k.pem",
        "typed secret\ntyped secret\n",
    );
    assert!(ok, "{out}");
    assert!(out.contains("Please confirm the password"), "{out}");
    let typed = mayfly_testkit::write_file(d, "typed", "typed secret");
    openssl_agrees(&openssl, &d.join("k.pem"), Some(&typed), &d.join("k.pub"));

    let (ok, out) = on_a_terminal(&script, d, "crypto keypair x.pub x.pem", "one\ntwo\n");
    assert!(!ok && out.contains("do not match"), "{out}");
    assert!(!d.join("x.pem").exists());
}

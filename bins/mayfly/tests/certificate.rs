//! `mayfly certificate create|inspect` end to end: a root -> intermediate -> leaf PKI made by
//! the CLI passes OpenSSL, GnuTLS certtool, Python `cryptography` and pkilint.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mayfly_testkit::{
    GUIDE_INTERMEDIATE_TEMPLATE, pkilint_errors, run_ok, stderr_of_failure, stdout_of_success,
    temp_dir, tool, venv_tool, workspace_root, write_file,
};
use serde_json::{Value, json};

fn mayfly(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(args: &[&str], dir: &Path) -> String {
    stdout_of_success(("mayfly", args), mayfly(args, dir))
}

fn fails(args: &[&str], dir: &Path) -> String {
    stderr_of_failure(("mayfly", args), mayfly(args, dir))
}

/// Makes root, intermediate and leaf in `dir`; with `encrypted` the CA keys are encrypted
/// (PBKDF2 with 600,000 iterations is slow in debug builds, so only one test does that).
fn make_pki(dir: &Path, encrypted: bool, leaf_kty: &[&str]) {
    write_file(dir, "pass.txt", "correct horse\n");
    let (protect, unlock): (&[&str], &[&str]) = if encrypted {
        (
            &["--password-file", "pass.txt"],
            &["--ca-password-file", "pass.txt"],
        )
    } else {
        (&["--no-password", "--insecure"], &[])
    };
    let root = [
        "certificate",
        "create",
        "Mayfly CLI Root",
        "root.crt",
        "root.key",
        "--profile",
        "root-ca",
    ];
    ok(&[&root[..], protect].concat(), dir);
    let int = [
        "certificate",
        "create",
        "Mayfly CLI Intermediate",
        "int.crt",
        "int.key",
        "--profile",
        "intermediate-ca",
        "--ca",
        "root.crt",
        "--ca-key",
        "root.key",
        "--set",
        "CRLDistributionPoints=[\"http://ca.example.com/int.crl\"]",
    ];
    ok(&[&int[..], protect, unlock].concat(), dir);
    let leaf = [
        "certificate",
        "create",
        "localhost",
        "leaf.crt",
        "leaf.key",
        "--ca",
        "int.crt",
        "--ca-key",
        "int.key",
        "--san",
        "localhost",
        "--san",
        "127.0.0.1",
        "--no-password",
        "--insecure",
        "--not-after",
        "2h",
        "--bundle",
    ];
    ok(&[&leaf[..], unlock, leaf_kty].concat(), dir);
    let bundle = std::fs::read_to_string(dir.join("leaf.crt")).unwrap();
    let first_end = bundle.find("-----END CERTIFICATE-----\n").unwrap() + 26;
    std::fs::write(dir.join("leaf-only.crt"), &bundle[..first_end]).unwrap();
}

#[test]
fn cli_pki_passes_openssl_certtool_cryptography_and_pkilint() {
    let dir = temp_dir();
    let d = dir.path();
    make_pki(d, true, &[]);
    let p = |n: &str| -> PathBuf { d.join(n) };

    if let Some(openssl) = tool("openssl") {
        let out = run_ok(
            Command::new(&openssl)
                .args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
                .arg(p("root.crt"))
                .arg("-untrusted")
                .arg(p("int.crt"))
                .arg(p("leaf-only.crt")),
        );
        assert!(out.contains(": OK"), "{out}");
        // The CA key is encrypted with the password given (OpenSSL reads it with it).
        run_ok(
            Command::new(&openssl)
                .args(["pkey", "-noout", "-passin", "pass:correct horse", "-in"])
                .arg(p("root.key")),
        );
    }
    if let Some(certtool) = tool("certtool") {
        let out = run_ok(
            Command::new(certtool)
                .args([
                    "--verify",
                    "--verify-hostname",
                    "localhost",
                    "--load-ca-certificate",
                ])
                .arg(p("root.crt"))
                .arg("--infile")
                .arg(p("leaf.crt")),
        );
        assert!(out.contains("Verified."), "{out}");
    }
    if let Some(python) = venv_tool("python") {
        let script = workspace_root().join("../shared/interop/verify_pki.py");
        let out = run_ok(
            Command::new(&python)
                .arg(script)
                .arg(p("root.crt"))
                .arg(p("int.crt"))
                .arg(p("leaf-only.crt")),
        );
        assert_eq!(out.matches("sig OK").count(), 2, "{out}");
        let check = "import sys\nfrom cryptography import x509\nfrom cryptography.x509 import verification as v\n\
            ld = lambda p: x509.load_pem_x509_certificate(open(p, 'rb').read())\n\
            r, i, l = (ld(p) for p in sys.argv[1:4])\n\
            v.PolicyBuilder().store(v.Store([r])).build_server_verifier(x509.DNSName('localhost')).verify(l, [i])\n\
            print('path OK')\n";
        let out = run_ok(
            Command::new(&python)
                .args(["-c", check])
                .arg(p("root.crt"))
                .arg(p("int.crt"))
                .arg(p("leaf-only.crt")),
        );
        assert!(out.contains("path OK"), "{out}");
    }
    for name in ["root.crt", "int.crt", "leaf-only.crt"] {
        let errors = pkilint_errors("lint_pkix_cert", &[p(name)]);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    for (issuer, subject) in [("root.crt", "int.crt"), ("int.crt", "leaf-only.crt")] {
        let errors = pkilint_errors(
            "lint_pkix_signer_signee_cert_chain",
            &[p(issuer), p(subject)],
        );
        assert!(errors.is_empty(), "{issuer} -> {subject}: {errors:#?}");
    }
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time as `inspect` prints it
/// (`2030-01-02T03:04:05Z`).
fn unix_seconds(t: &Value) -> i64 {
    let t = t.as_str().unwrap();
    assert!(t.len() == 20 && t.ends_with('Z'), "{t}");
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn inspect_json(name: &str, dir: &Path) -> Value {
    serde_json::from_str(&ok(
        &["certificate", "inspect", name, "--format", "json"],
        dir,
    ))
    .unwrap()
}

/// notAfter - notBefore of a certificate, from `inspect --format json`.
fn lifetime(info: &Value) -> i64 {
    unix_seconds(&info["notAfter"]) - unix_seconds(&info["notBefore"])
}

#[test]
fn validity_and_templates_reach_the_certificate() {
    const MINUTE: i64 = 60;
    let dir = temp_dir();
    let d = dir.path();
    // `mayfly certificate create ARGS --no-password --insecure`; returns stderr, which must
    // hold no template warning.
    let create = |args: &[&str]| {
        let args = [
            &["certificate", "create"],
            args,
            &["--no-password", "--insecure"],
        ]
        .concat();
        let out = mayfly(&args, d);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
    };
    create(&["Root", "root.crt", "root.key", "--profile", "root-ca"]);
    // Ten years of 365 days, plus the one-minute backdate.
    assert_eq!(
        lifetime(&inspect_json("root.crt", d)),
        3650 * 86_400 + MINUTE
    );

    write_file(d, "intermediate.tpl", GUIDE_INTERMEDIATE_TEMPLATE);
    create(&[
        "Intermediate",
        "int.crt",
        "int.key",
        "--template",
        "intermediate.tpl",
        "--ca",
        "root.crt",
        "--ca-key",
        "root.key",
        "--not-after",
        "87660h",
    ]);
    let int = inspect_json("int.crt", d);
    assert_eq!(
        int["crlDistributionPoints"],
        json!(["URI:http://crl.example.com/crl/ca.crl"])
    );
    assert_eq!(int["basicConstraints"]["maxPathLen"], 0);
    assert_eq!(int["keyUsage"], json!(["certSign", "crlSign"]));
    assert_eq!(lifetime(&int), 87_660 * 3600 + MINUTE);

    // Leaves: the 24-hour default, a duration, and an RFC 3339 time (shown in UTC).
    let ca = ["--ca", "int.crt", "--ca-key", "int.key"];
    create(&[&["leaf.example.com", "day.crt", "day.key"][..], &ca].concat());
    assert_eq!(lifetime(&inspect_json("day.crt", d)), 24 * 3600 + MINUTE);
    create(
        &[
            &["leaf.example.com", "2h.crt", "2h.key", "--not-after", "2h"][..],
            &ca,
        ]
        .concat(),
    );
    assert_eq!(lifetime(&inspect_json("2h.crt", d)), 2 * 3600 + MINUTE);
    // Noon UTC, four years after the intermediate's start, written with a +02:00 offset.
    let start = int["notBefore"].as_str().unwrap();
    let date = format!(
        "{}{}",
        start[..4].parse::<i64>().unwrap() + 4,
        &start[4..10]
    );
    let end = format!("{date}T14:00:00+02:00");
    create(
        &[
            &[
                "leaf.example.com",
                "fixed.crt",
                "fixed.key",
                "--not-after",
                &end,
            ][..],
            &ca,
        ]
        .concat(),
    );
    assert_eq!(
        inspect_json("fixed.crt", d)["notAfter"],
        format!("{date}T12:00:00Z")
    );

    // A leaf from an operator's template, fed by --set.
    write_file(
        d,
        "client.tpl",
        r#"{
  "subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": {{ toJson .Org }}},
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature"],
  "extKeyUsage": ["clientAuth"]
}"#,
    );
    create(
        &[
            &[
                "client",
                "client.crt",
                "client.key",
                "--template",
                "client.tpl",
                "--set",
                "Org=Example Corp",
                "--san",
                "client@example.com",
            ][..],
            &ca,
        ]
        .concat(),
    );
    let client = inspect_json("client.crt", d);
    assert_eq!(client["subject"], "CN=client,O=Example Corp");
    assert_eq!(
        client["subjectAltNames"],
        json!(["email:client@example.com"])
    );
    assert_eq!(client["keyUsage"], json!(["digitalSignature"]));
    assert_eq!(client["extKeyUsage"], json!(["clientAuth"]));
    assert_eq!(lifetime(&client), 24 * 3600 + MINUTE);
    assert_eq!(client["authorityKeyId"], int["subjectKeyId"]);
}

#[test]
fn inspect_reports_the_profile() {
    let dir = temp_dir();
    let d = dir.path();
    make_pki(d, false, &["--kty", "RSA", "--size", "2048"]);
    let leaf = inspect_json("leaf.crt", d);
    assert_eq!(leaf["subject"], "CN=localhost");
    assert_eq!(leaf["issuer"], "CN=Mayfly CLI Intermediate");
    assert_eq!(
        leaf["keyUsage"],
        json!(["digitalSignature", "keyEncipherment"])
    );
    assert_eq!(
        leaf["subjectAltNames"],
        json!(["DNS:localhost", "IP:127.0.0.1"])
    );
    assert_eq!(leaf["publicKey"], "RSA 2048");
    let int = inspect_json("int.crt", d);
    assert_eq!(int["basicConstraints"]["maxPathLen"], 0);
    assert_eq!(
        int["crlDistributionPoints"],
        json!(["URI:http://ca.example.com/int.crl"])
    );
    assert_eq!(leaf["authorityKeyId"], int["subjectKeyId"]);
    let text = ok(&["certificate", "inspect", "root.crt"], d);
    assert!(
        text.contains("Basic Constraints (critical): CA:TRUE, pathlen:1"),
        "{text}"
    );
    assert!(text.contains("Key Usage: certSign, crlSign"), "{text}");
    if let Some(openssl) = tool("openssl") {
        let fp = run_ok(
            Command::new(openssl)
                .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
                .arg(d.join("root.crt")),
        );
        let fp = fp
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "")
            .to_lowercase();
        assert!(text.contains(&fp), "{text} vs {fp}");
    }
}

#[test]
fn bad_requests_fail_with_clear_errors() {
    let dir = temp_dir();
    let d = dir.path();
    make_pki(d, false, &[]);
    let err = fails(
        &[
            "certificate",
            "create",
            "x",
            "x.crt",
            "x.key",
            "--profile",
            "intermediate-ca",
            "--no-password",
            "--insecure",
        ],
        d,
    );
    assert!(err.contains("needs its issuer"), "{err}");
    write_file(d, "fail.tpl", "{{ fail \"names under .corp only\" }}");
    let err = fails(
        &[
            "certificate",
            "create",
            "x",
            "x.crt",
            "x.key",
            "--template",
            "fail.tpl",
            "--no-password",
            "--insecure",
        ],
        d,
    );
    assert!(err.contains("names under .corp only"), "{err}");
    write_file(
        d,
        "bad.tpl",
        "{\n  \"subject\": \"{{ .Subject.commonName }},\n}",
    );
    let err = fails(
        &[
            "certificate",
            "create",
            "x",
            "x.crt",
            "x.key",
            "--template",
            "bad.tpl",
            "--no-password",
            "--insecure",
        ],
        d,
    );
    assert!(
        err.contains("not valid JSON") && err.contains("line 3"),
        "{err}"
    );
    assert!(
        err.contains("warning: bad.tpl:2:"),
        "lint warning expected: {err}"
    );
    // A leaf cannot issue.
    let err = fails(
        &[
            "certificate",
            "create",
            "y",
            "y.crt",
            "y.key",
            "--ca",
            "leaf-only.crt",
            "--ca-key",
            "leaf.key",
            "--no-password",
            "--insecure",
        ],
        d,
    );
    assert!(err.contains("not a CA certificate"), "{err}");
    // Existing files are kept unless --force.
    let err = fails(
        &[
            "certificate",
            "create",
            "z",
            "root.crt",
            "z.key",
            "--no-password",
            "--insecure",
        ],
        d,
    );
    assert!(err.contains("already exists"), "{err}");
    let err = fails(
        &[
            "certificate",
            "create",
            "z",
            "z.crt",
            "z.key",
            "--no-password",
            "--insecure",
            "--not-after",
            "5y",
        ],
        d,
    );
    assert!(err.contains("unknown unit"), "{err}");
}
